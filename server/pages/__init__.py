"""The bundled web app: one page shell (jinja2, autoescaped) and its static files."""
