"""Open a local HTML file in headless Chromium with the network blocked, and inspect it.

A small helper any test may reuse (offline by default; ``offline=False`` with ``routes`` serves
requests a test stands in for)::

    with open_page(path) as view:
        assert view.console_errors == []
        assert view.external_requests == []
        counts = view.rendered()

Every request that is not ``file:``, ``data:``, ``blob:`` or ``about:`` is aborted and
recorded in ``external_requests``. Console messages of type ``error``, uncaught page
errors and JavaScript dialogs (``alert``...) are recorded too, so a test can assert that a
page ran nothing it should not have.

Maps written by :mod:`equity.maps` keep a registry (``window.equity.layers``); ``rendered()``
reads it. For other Leaflet pages it falls back to counting ``path.leaflet-interactive``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("EQUITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def require_chromium() -> None:
    """Skip (outside CI) or fail (in CI) when Chromium or Playwright is missing.

    Browser tests are how the maps are known to work; in CI a missing browser is a failure,
    not a reason to skip.
    """
    import pytest

    if chromium_available():
        return
    msg = f"headless Chromium not available at {CHROMIUM} (apt-get install chromium) or Playwright missing"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(msg + "; CI must install it")
    pytest.skip(msg)


def chromium_available() -> bool:
    """Whether the Chromium binary and the Playwright package are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).is_file()


@dataclass
class PageView:
    """A loaded page and what happened while loading it."""

    page: Any
    load_seconds: float
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def evaluate(self, script: str, arg: Any = None) -> Any:
        """Evaluate JavaScript in the page."""
        return self.page.evaluate(script, arg)

    def feature_counts(self) -> dict[str, int]:
        """Features per registered layer (equity maps), from the data the page holds."""
        return self.evaluate(
            "() => { const o = {}; for (const [k, v] of Object.entries(window.equity.layers)) o[k] = v.features; return o; }"
        )

    def rendered(self) -> dict[str, int]:
        """Drawn polygons (or markers) per registered layer currently on the map."""
        has_registry = self.evaluate("() => !!(window.equity && window.equity.rendered)")
        if has_registry:
            return self.evaluate("() => window.equity.rendered()")
        return {"": self.page.locator("path.leaflet-interactive").count()}

    def layer_names(self) -> list[str]:
        """Labels of the layer control, in order."""
        return [
            t.strip() for t in self.page.locator(".leaflet-control-layers label").all_inner_texts()
        ]

    def show_layer(self, name: str) -> None:
        """Select a layer by clicking its label in the layer control (as a user would)."""
        label = self.page.locator(".leaflet-control-layers label", has_text=name).first
        box = label.locator("input")
        if not box.is_checked():
            box.click()
        self.page.wait_for_timeout(50)

    def hide_layer(self, name: str) -> None:
        """Uncheck an overlay in the layer control (no-op when the map has no such layer)."""
        label = self.page.locator(".leaflet-control-layers label", has_text=name)
        if label.count() == 0:
            return
        box = label.first.locator("input")
        if box.is_checked():
            box.click()
        self.page.wait_for_timeout(50)

    def hover_feature(self, layer: str, index: int = 0) -> str:
        """Move the mouse over feature `index` of `layer` and return the tooltip's text."""
        point = self.evaluate(
            """([name, i]) => {
                const rec = window.equity.layers[name];
                const l = rec.layer.getLayers()[i];
                const p = rec.map.latLngToContainerPoint(l.getCenter());
                const r = rec.map.getContainer().getBoundingClientRect();
                return [p.x + r.left, p.y + r.top];
            }""",
            [layer, index],
        )
        # Leaflet's canvas renderer ignores a move within 32 ms of the last hover: pause between
        self.page.mouse.move(point[0] - 3, point[1] - 3)
        self.page.wait_for_timeout(60)
        self.page.mouse.move(point[0], point[1])
        tip = self.page.locator(".leaflet-tooltip").first
        tip.wait_for(state="visible", timeout=10_000)
        # a tooltip bound to the whole layer follows the mouse with a lag: wait (briefly, since
        # a feature's centre may lie in its neighbour) until it shows this very feature
        try:
            handle = self.page.wait_for_function(
                """([name, i]) => {
                    const rec = window.equity.layers[name];
                    const t = rec.layer.getTooltip && rec.layer.getTooltip();
                    if (!t) return "";
                    const el = t.getElement && t.getElement();
                    const open = t._source === rec.layer.getLayers()[i] && rec.layer.isTooltipOpen();
                    return open && el && el.innerText ? el.innerText : null;
                }""",
                arg=[layer, index],
                polling=50,
                timeout=2000,
            )
            text = str(handle.json_value())
        except Exception:  # the centre lies in a neighbour: read what the mouse shows
            text = ""
        return text or tip.inner_text()


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium browser (Playwright), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(
    path: str | os.PathLike[str],
    *,
    browser: Any | None = None,
    viewport: tuple[int, int] = (1200, 800),
    ready: str
    | None = "() => !!(window.equity && window.equity.maps && window.equity.maps.length)",
    timeout_ms: int = 60_000,
    offline: bool = True,
    routes: dict[str, Any] | None = None,
) -> Iterator[PageView]:
    """Open a local HTML file with every non-local request blocked.

    Parameters
    ----------
    path
        The HTML file.
    browser
        A browser from :func:`launch` to reuse; a new one is launched when None.
    viewport
        Window size in pixels.
    ready
        JavaScript predicate waited for after ``load`` (None: just ``load``).
    timeout_ms
        Maximum wait for the page.
    offline
        Emulate a browser without network (``navigator.onLine`` is false): the default, so
        a page that asks before loading online extras (the maps' basemap) makes no request.
        With False the browser says it is online, and requests are still blocked unless
        `routes` answers them.
    routes
        URL pattern -> Playwright route handler, for requests a test serves itself (e.g. a
        stand-in tile server); they take precedence over the blocking.

    Yields
    ------
    PageView
        With ``load_seconds`` from navigation start to `ready`.
    """
    with contextlib.ExitStack() as stack:
        if browser is None:
            browser = stack.enter_context(launch())
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        stack.callback(context.close)
        page = context.new_page()
        view = PageView(page=page, load_seconds=float("nan"))

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(LOCAL_SCHEMES):
                r.continue_()
            else:
                view.external_requests.append(url)
                r.abort()

        context.route("**/*", route)
        for pattern, handler in (routes or {}).items():  # the last route registered wins
            context.route(pattern, handler)
        if offline:
            # Chromium's offline emulation does not reach navigator.onLine of a file page
            # opened after it: say so from the first script on
            context.add_init_script(
                "Object.defineProperty(Navigator.prototype, 'onLine', {get: () => false});"
            )
            context.set_offline(True)
        page.on("request", lambda req: view.requests.append(req.url))
        page.on(
            "console",
            lambda msg: view.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: view.page_errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            view.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        url = Path(path).resolve().as_uri()
        start = time.perf_counter()
        page.goto(url, wait_until="load", timeout=timeout_ms)
        if ready:
            page.wait_for_function(ready, timeout=timeout_ms)
        # Wait for the first paint after the layers were built.
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        view.load_seconds = time.perf_counter() - start
        yield view
