"""The web page kgqa serve serves: index.html, app.js, style.css and the vendored cytoscape (MIT)."""
