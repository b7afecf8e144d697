// Builds the policy page from its JSON, as single-page applications do.
document.addEventListener("DOMContentLoaded", async () => {
  const app = document.getElementById("app");
  const response = await fetch("/static/social-media.json");
  const doc = await response.json();
  const main = document.createElement("main");
  const title = document.createElement("h1");
  title.textContent = doc.title;
  main.appendChild(title);
  for (const section of doc.sections) {
    const heading = document.createElement("h2");
    heading.textContent = section.heading;
    main.appendChild(heading);
    for (const text of section.paragraphs) {
      const p = document.createElement("p");
      p.textContent = text;
      main.appendChild(p);
    }
  }
  app.replaceChildren(main);
});
