"""One module per middleware; ``server.app.create_app`` lists them in order, with the reasons."""
