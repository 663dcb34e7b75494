"""The REST API (``/api/v1/``): thin DRF views over the services and selectors.

One view per operation (``<Entity><Action>Api``) with nested ``InputSerializer`` /
``OutputSerializer``. Where two operations share a URL (``GET`` lists, ``POST`` creates), the
URL's view class is the union of the two operation classes; each handler names its own
serializers explicitly.
"""
