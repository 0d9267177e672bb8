"""The yardstick for HTTP throughput: a bare Flask endpoint served by the same gunicorn setup."""

from flask import Flask, request

app = Flask(__name__)


@app.route("/bare", methods=["GET", "POST"])
def bare():
    request.get_data()
    return {"ok": True}
