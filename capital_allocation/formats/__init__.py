"""Django's date formats for this site (``FORMAT_MODULE_PATH``): what the admin shows a person."""
