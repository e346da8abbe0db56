"""Drives Locust's web UI in a real headless Chromium the way a student does,
and prints what the page shows, one JSON object per reading.

    python3 servers_tab.py URL --users 50 --spawn-rate 10 --seconds 20 --screenshot FILE

Types the user count and spawn rate into Locust's start form, presses Start,
waits, opens the Servers tab and reads its table from the page (the text a
student sees, not the JSON behind it), saves a screenshot, and prints the
reading. Then, for each line it is sent on stdin until stdin closes, it reads
the tab again (for a test that breaks something in between) and prints that;
at the end it presses Stop.

Each reading: {"tabs": [...], "servers": {"header": [...], "rows": [[...]]},
"state": "..."}; the first also has "statistics" (Locust's own table) and
"downloads" (the links of its Download Data tab).

Needs Debian's chromium and chromium-driver, and Selenium (tests/browser-
requirements.txt, pinned); Selenium is pointed at /usr/bin/chromedriver, so it
never downloads a driver. Run by tests/browser.rs.
"""

import argparse
import json
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"

#: Seconds Locust's page takes to show new figures: it polls every 2 s.
POLL = 2.5


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,900",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver) -> WebDriverWait:
    return WebDriverWait(driver, 30)


def type_into(driver, name: str, value: str) -> None:
    """Replaces the text of the form field `name`, as a user selecting it and typing."""
    field = wait(driver).until(shown.element_to_be_clickable((By.NAME, name)))
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)


def by_text(kind: str, text: str):
    """An element of `kind` whose text is `text`, in any case (the UI shows capitals)."""
    upper = (
        "translate(normalize-space(.), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
    )
    return (By.XPATH, f"//{kind}[{upper}='{text.upper()}']")


def press(driver, text: str) -> None:
    wait(driver).until(shown.element_to_be_clickable(by_text("button", text))).click()


def table(driver) -> dict:
    """The visible table's header and rows, as the page renders them."""
    grid = wait(driver).until(shown.visibility_of_element_located((By.TAG_NAME, "table")))
    header = [cell.text for cell in grid.find_elements(By.CSS_SELECTOR, "thead th")]
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in grid.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    return {"header": header, "rows": rows}


def downloads(driver) -> list[dict]:
    """The links of the Download Data tab: what a student can download."""
    wait(driver).until(
        shown.element_to_be_clickable(by_text("*[@role='tab']", "Download Data"))
    ).click()
    links = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href]"))
    return [{"text": link.text, "href": link.get_attribute("href")} for link in links]


def downloads(driver) -> list[dict]:
    """The links of the Download Data tab: what a student can download."""
    tab = by_text("*[@role='tab']", "Download Data")
    wait(driver).until(shown.element_to_be_clickable(tab)).click()
    links = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href]"))
    return [{"text": link.text, "href": link.get_attribute("href")} for link in links]


def reading(driver, screenshot: str) -> dict:
    """The Servers tab now (opened if it is not), and Locust's state."""
    wait(driver).until(shown.element_to_be_clickable(by_text("*[@role='tab']", "Servers"))).click()
    time.sleep(POLL)
    servers = table(driver)
    driver.save_screenshot(screenshot)
    tabs = [tab.text for tab in driver.find_elements(By.CSS_SELECTOR, "[role=tab]")]
    state = driver.execute_script("return document.body.innerText").split("Status", 1)[-1]
    return {"tabs": tabs, "servers": servers, "state": state.split()[0] if state.split() else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--users", default="50")
    parser.add_argument("--spawn-rate", default="10")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--screenshot", required=True, help="PNG of the Servers tab")
    args = parser.parse_args()
    driver = browser()
    try:
        driver.get(args.url)
        type_into(driver, "userCount", args.users)
        type_into(driver, "spawnRate", args.spawn_rate)
        press(driver, "Start")
        time.sleep(args.seconds)
        statistics = table(driver)  # Locust's own table, the first tab
        links = downloads(driver)
        first = reading(driver, args.screenshot)
        print(json.dumps({**first, "statistics": statistics, "downloads": links}), flush=True)
        for number, _line in enumerate(sys.stdin, 2):
            again = args.screenshot.removesuffix(".png") + f"-{number}.png"
            print(json.dumps(reading(driver, again)), flush=True)
        press(driver, "Stop")
        return 0
    except WebDriverException as error:
        driver.save_screenshot(args.screenshot.removesuffix(".png") + "-error.png")
        print(f"servers_tab.py: {error.msg or error}", file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
