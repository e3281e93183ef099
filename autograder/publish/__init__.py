"""Publishing the course: its settings, the chapters as notebooks, and the student tree."""
