"""The path migration 0019 names for the encrypted secret field; the field is ``models.fields``'s,
the cipher ``secret_box``'s."""

from allocations.models.fields import EncryptedSecretField  # noqa: F401
