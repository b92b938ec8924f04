"""Reports read only stored records and manifests; they never import a model or a runtime."""
