"""A real headless Chromium for browser tests: Debian's ``chromium`` driven through Debian's
``chromedriver`` with selenium (the ``[browser]`` extra).

::

    with chromium() as driver:
        driver.get(url)

Each driver gets a profile folder of its own (cookies, history), removed on exit, so two
drivers are two independent browser sessions, and nothing a page saw (authorization codes in
the history) outlives the test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "make chromium  (or: apt-get install chromium chromium-driver)"

# Without the background-networking flags Chromium keeps dialling out for updates, sync and
# field trials, which a closed network refuses; --no-sandbox because tests run as root.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class ChromiumMissing(RuntimeError):
    """Chromium or chromedriver is not installed; the message names the install command."""


def find_chromium() -> tuple[str, str]:
    """The browser and the driver, or :class:`ChromiumMissing` naming the install command."""
    browser = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", browser),
                                                        ("chromedriver", driver)) if path is None)
        raise ChromiumMissing(f"{missing} not found: run {INSTALL}")
    try:
        import selenium  # noqa: F401
    except ImportError as exc:
        raise ChromiumMissing(
            "selenium is not installed: pip install 'brokerauth-sandbox[browser]'"
        ) from exc
    return browser, driver


@contextlib.contextmanager
def chromium(*, page_load_timeout: float = 20.0,
             window: tuple[int, int] = (1024, 768)) -> Iterator[WebDriver]:
    """A headless Chromium with a private, throwaway profile; quit (and its folder removed)
    on exit.  A page that does not load within ``page_load_timeout`` raises selenium's
    ``TimeoutException`` instead of hanging the test.

    :raises ChromiumMissing: the browser, its driver or selenium is not installed.
    """
    browser, driver_path = find_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # selenium logs each command's body at DEBUG, the URLs a test navigates to included
    # (authorization codes among them); a browser writes nothing to the program's logs.
    quiet = logging.getLogger("selenium.webdriver.remote.remote_connection")
    was_disabled, quiet.disabled = quiet.disabled, True
    try:
        with tempfile.TemporaryDirectory(prefix="brokerauth-chromium-") as profile:
            options = webdriver.ChromeOptions()
            options.binary_location = browser
            for flag in FLAGS:
                options.add_argument(flag)
            options.add_argument(f"--user-data-dir={profile}")
            options.add_argument(f"--window-size={window[0]},{window[1]}")
            service = Service(executable_path=driver_path, log_output=subprocess.DEVNULL)
            driver = webdriver.Chrome(options=options, service=service)
            try:
                driver.set_page_load_timeout(page_load_timeout)
                yield driver
            finally:
                driver.quit()
    finally:
        quiet.disabled = was_disabled
