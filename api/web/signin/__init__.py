"""Signing in to the web pages (docs/console.md#signing-in): sessions, e-mailed links, OpenID Connect, CSRF.

The building blocks, for the pages built on them:

    settings.py   OidcSettings (DESKMATE_OIDC_*), WebSettings (DESKMATE_WEB_*): nested in api.settings.Settings
    sessions.py   server-side sessions (web_sessions) and their cookie; from_request() reads, checks and
                  CSRF-verifies the session, and api/auth/deps.py calls it for every request without an
                  Authorization header — so CurrentUser, StaffUser, AdminUser and require() serve pages too
    csrf.py       the session's CSRF token (hidden field csrf_token or header X-CSRF-Token), checked in one place
    links.py      one-time sign-in links: issue, mail, use; link_for() behind ``deskmate signin-link``
    oidc.py       OidcProvider: authorization code flow with PKCE, id token checked against the provider's JWKS
    routes.py     /signin, /signin/link, /signin/oidc, /signout, and the /me placeholder (/console: api/web/console)

Pages render with api.web.pages.render(), which adds the security headers and the template's csrf_token.
"""
