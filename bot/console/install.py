"""Adds the console to the app: pages, the API, static files, the offline API docs at /docs,
and the handlers that turn "sign in first" and "not allowed" into pages."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bot.console import api, model_pages, pages, preview_pages, survey_pages, translation_pages
from bot.console.auth import FormExpired, PageForbidden, PasswordChangeRequired, SignInRequired
from bot.console.web import HERE, private, render

SWAGGER_ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Add the console, the API and the API's documentation page to the app."""
    import swagger_ui_bundle

    app.include_router(pages.router)
    for module in (survey_pages, translation_pages, preview_pages, model_pages):
        app.include_router(module.router)
    app.include_router(api.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png",
        )

    @app.get("/console", include_in_schema=False)
    def console_root() -> Response:
        return RedirectResponse("/console/", status_code=307)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        target = "/console/sign-in"
        if exc.next_url not in ("/console/", "/console"):
            target += "?" + urlencode({"next": exc.next_url})
        return private(RedirectResponse(target, status_code=303))

    @app.exception_handler(PasswordChangeRequired)
    async def change_password_first(request: Request, exc: PasswordChangeRequired) -> Response:
        return private(RedirectResponse("/console/account", status_code=303))

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", exc.principal, 403, title="Not allowed",
                      message=f"This page is for the {exc.role} role; your account is "
                      f"{exc.principal.role}. Ask an admin if you need it.")

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, exc: FormExpired) -> Response:
        return render(request, "error.html", exc.principal, 403, title="The form had expired",
                      message="Nothing was changed. Go back, reload the page and try again.")
