"""Renderers: a Report to text, JSON and (later) headers, HTML, STIX, MISP."""
