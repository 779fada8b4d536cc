"""The service: API, store, scheduler, dashboard."""
