"""The web app: server-rendered pages on the API's own app (one process serves both).

`install` mounts the static assets, the page routers and the handlers that turn a missing
sign-in, a failed CSRF check and a missing (or another org's) object into pages.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from qualgent.api.errors import api_error_response, http_error
from qualgent.domain import NotFound
from qualgent.web import security
from qualgent.web.pages import (
    STATIC_DIR,
    OwnerRequired,
    SignInRequired,
    redirect,
    render,
    sign_in_url,
    viewer_of,
)


def wants_html(request: Request) -> bool:
    return (not request.url.path.startswith("/v1/")
            and "text/html" in request.headers.get("accept", ""))


def install(app: FastAPI) -> None:
    from qualgent.web import (
        auth,
        builds,
        categories,
        devices,
        results,
        runs,
        settings,
        testcases,
        webhooks,
    )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, settings, categories, testcases, builds, runs, results, devices,
                   webhooks):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        if await viewer_of(request) is None:
            return redirect("/auth/sign-in")
        return redirect("/test-runs")

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return redirect(sign_in_url(exc.next_path))

    @app.exception_handler(security.CsrfFailure)
    async def _csrf(request: Request, _: security.CsrfFailure) -> Response:
        return render(request, "error.html", await viewer_of(request), status=403,
                      title="This form has expired",
                      message="Reload the page and submit it again.")

    @app.exception_handler(OwnerRequired)
    async def _owner(request: Request, _: OwnerRequired) -> Response:
        return render(request, "error.html", await viewer_of(request), status=403,
                      title="Owners only",
                      message="Ask an owner of your organization to do this.")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, _: NotFound) -> Response:
        return await not_found_page(request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and wants_html(request):
            return await not_found_page(request)
        return api_error_response(http_error(exc))


async def not_found_page(request: Request) -> Response:
    """One page for missing and for other organizations' objects."""
    return render(request, "error.html", await viewer_of(request), status=404,
                  title="Page not found",
                  message="There is nothing here, or it belongs to another organization.")
