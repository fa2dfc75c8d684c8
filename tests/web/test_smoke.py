def test_each_role_reaches_its_home(client, cast, login_as):
    for name, expected in [
        ("employer_a", "Acme Tooling"),
        ("broker_a", "Book of business"),
        ("billing_specialist", "<h1>Today"),  # staff start at the work queue
        ("admin", "<h1>Today"),
    ]:
        login_as(cast.users[name])
        response = client.get("/", follow_redirects=True)
        assert response.status_code == 200
        assert expected in response.get_data(as_text=True)


def test_the_work_queue_leads_to_the_page_that_works_each_queue(client, cast, login_as):
    login_as(cast.users["billing_specialist"])
    html = client.get("/admin/today").get_data(as_text=True)
    assert "<h1>Today" in html and 'href="/admin/today">Today</a>' in html
    # The scenario's bills are not yet past due today, and nothing else waits.
    assert "Nothing waits: every queue is clear." in html
    assert 'href="/admin/">Groups</a>' in html  # the group list is still one click away
