"""The Terraform-Cloud-compatible API: Terraform's ``remote`` and ``cloud``
backends (and ``terraform login``) against OpenTaco.

``routes`` holds the routes, ``paths`` says which of them are public.
Organizations are namespaces and workspaces are units (``O/W``); see
``docs/tfe.md`` for what each request does and ``tfe_ids`` in the wire
package for the IDs handed out.
"""
