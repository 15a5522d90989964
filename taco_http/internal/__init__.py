"""The internal API (``/internal/api``) a UI uses: organizations and users
synced from its identity provider, and the units of an organization.

Enabled only when ``OPENTACO_ENABLE_INTERNAL_ENDPOINTS`` holds a secret. The
UI authenticates with that secret and says who its user is in headers
(``auth.WebhookAuth``); the user then acts as a principal of kind user with
that subject, and RBAC decides what they may do with units, as for anyone.
``routes.ROUTES`` are mounted at ``/internal/api`` by the app.
"""
