"""The OpenTaco Terraform provider (``opentaco``), a plugin Terraform starts.

A front end like the HTTP service and the CLI: it manages units, reads them and
their outputs, and declares the dependency graph, through the same remote client
as the ``taco`` CLI (``taco_tf_provider.client``). Built on PyPI ``tf`` (plugin
protocol 6). ``taco provider install`` makes it available to Terraform.
"""
