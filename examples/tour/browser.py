"""A stand-in for a person at a browser, for tour.sh: opens the authorization URL, signs in on the
login page, clicks "Allow" on the consent page and follows the redirect back to the app."""
import http.cookiejar, re, sys, urllib.parse, urllib.request

url, username, password = sys.argv[1:4]
jar = http.cookiejar.CookieJar()
browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def csrf(page):
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


page = browser.open(url).read().decode()
form = {"csrf": csrf(page), "action": "login", "username": username, "password": password}
page = browser.open(url, urllib.parse.urlencode(form).encode()).read().decode()
form = {"csrf": csrf(page), "action": "allow"}
# The consent answer redirects to the app's loopback address, which prints the result.
print(browser.open(url, urllib.parse.urlencode(form).encode()).read().decode())
