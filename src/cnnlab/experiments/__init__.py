"""Runnable experiments that test the lecture's claims."""
