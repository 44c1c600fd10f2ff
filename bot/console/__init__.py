"""The engagement officers' console: web pages under /console, the REST API under /api/v1 and
its documentation at /docs. `bot.console.install.install(app)` adds them to the app."""
