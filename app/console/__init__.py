"""The built-in web console at ``/console``: static pages that call the public JSON API."""
