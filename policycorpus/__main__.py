from policycorpus.cli import cli

cli(prog_name="policycorpus")
