"""One local stack for the web page's tests: two tenants, the page served by its api."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from kscribe.asr import voices
from tests.security.conftest import Tenant, create_tenant
from tests.stack import Stack

INSTALL = "apt-get install -y chromium chromium-driver"


@dataclass
class WebEnv:
    stack: Stack
    acme: Tenant
    globex: Tenant
    tmp: Path

    @property
    def api(self) -> str:
        return self.stack.url["api"]


@pytest.fixture(scope="package")
def web(tmp_path_factory) -> WebEnv:
    tmp = tmp_path_factory.mktemp("web")
    # Diarization on where its extra is installed, so the page offers speaker labels.
    diarize = "true" if voices.available() else "false"
    stack = Stack(tmp, env={"KSCRIBE_API_RATE_PER_MINUTE": "100000", "KSCRIBE_DIARIZE": diarize})
    try:
        yield WebEnv(stack, create_tenant(stack, "acme"), create_tenant(stack, "globex"), tmp)
    finally:
        stack.stop()


def browser_binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser(tmp_path):
    """Headless Debian chromium through its chromedriver (Selenium never fetches a browser)."""
    found = browser_binaries()
    if found is None:
        pytest.skip(f"no chromium/chromedriver here: {INSTALL}")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not reach for the network
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-gpu",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=found[1]))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.shots = tmp_path / "screenshots"
    driver.shots.mkdir()
    yield driver
    driver.quit()
