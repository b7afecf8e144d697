import pytest

from crawler.safety import check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.0.0.21:8631/x", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0.0.0.0/",
    "http://[fd00:ec2::254]/", "http://localhost/", "http://[::ffff:127.0.0.1]/",
])
def test_private_addresses_refused_by_default(url):
    reason = check_url(url, allow_private=False)
    assert reason and reason.startswith("refused")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x/", "data:text/html,hi"])
def test_other_schemes_refused_even_with_allow_private(url):
    assert "scheme" in check_url(url, allow_private=True)


def test_allow_private_permits_loopback():
    assert check_url("http://127.0.0.21:8631/", allow_private=True) is None


def test_public_address_allowed():
    assert check_url("http://93.184.216.34/", allow_private=False) is None
