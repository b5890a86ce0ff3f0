"""The routes behind the links in emails: the notification preferences the
web UI's preferences page reads, and one-click unsubscribe (RFC 8058): a
POST without a session, authorised by the signed token in the address."""
import requests

from conftest import API, URL, problem, psql


def token_of(user):
    return psql(f"SELECT taskmgmt._unsubscribe_token({user.id})")


def test_notification_preferences_route(alice):
    r = requests.get(API + "/me/notification-preferences", headers=alice.h)
    assert r.status_code == 200
    prefs = r.json()
    assert set(prefs) == {"assigned", "updated", "commented", "mentioned", "due_soon", "overdue", "unblocked"}
    assert prefs["mentioned"] == {"in_app": True, "email": True}
    r = requests.patch(API + "/me", headers=alice.h,
                       json={"preferences": {"notifications": {"mentioned": {"email": False}}}})
    assert r.status_code == 200, r.text
    assert requests.get(API + "/me/notification-preferences", headers=alice.h).json()["mentioned"] == \
        {"in_app": True, "email": False}
    problem(requests.get(API + "/me/notification-preferences"), 401)


def test_one_click_unsubscribe_without_a_session(alice, bob):
    # what a mail provider sends (RFC 8058): a form body, no cookies, no token header
    r = requests.post(API + "/mail/unsubscribe", params={"token": token_of(alice)},
                      data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and r.json() == {"unsubscribed": True}, r.text
    prefs = requests.get(API + "/me/notification-preferences", headers=alice.h).json()
    assert all(not p["email"] for p in prefs.values()) and all(p["in_app"] for p in prefs.values())
    # only the token's user
    assert requests.get(API + "/me/notification-preferences", headers=bob.h).json()["assigned"]["email"] is True


def test_bad_unsubscribe_links_are_refused_alike(alice, bob):
    mac = token_of(alice).split(".", 1)[1]
    for token in (f"{bob.id}.{mac}", f"{alice.id}.{'A' * 22}", "nonsense", ""):
        b = problem(requests.post(API + "/mail/unsubscribe", params={"token": token}), 400)
        assert b["errors"][0]["field"] == "token" and "not a valid unsubscribe link" in b["detail"], token
    problem(requests.post(API + "/mail/unsubscribe"), 400)
    b = problem(requests.post(API + "/mail/unsubscribe", params={"token": token_of(alice), "user": bob.id}), 400)
    assert b["errors"][0]["field"] == "user"
    assert requests.get(API + "/me/notification-preferences", headers=bob.h).json()["assigned"]["email"] is True


def test_unsubscribe_link_in_a_browser_gets_the_web_ui():
    r = requests.get(API + "/mail/unsubscribe", params={"token": "anything"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.text == requests.get(URL + "/").text     # the UI's page: it shows the question (test/web)
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
