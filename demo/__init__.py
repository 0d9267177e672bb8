"""The demo county `make run` serves: files a county system would export (demo/county/), the script that wrote
them once (generate.py), and the story that makes the county live after they are imported (story.py)."""
