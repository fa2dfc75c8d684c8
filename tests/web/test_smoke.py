def test_each_role_reaches_its_home(client, cast, login_as):
    for name, expected in [
        ("employer_a", "Acme Tooling"),
        ("broker_a", "Book of business"),
        ("admin", "Groups"),
    ]:
        login_as(cast.users[name])
        response = client.get("/", follow_redirects=True)
        assert response.status_code == 200
        assert expected in response.get_data(as_text=True)
