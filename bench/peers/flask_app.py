"""The memory benchmark's app: a small Flask app, served the same way by every server."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(hello="world", items=list(range(20)))
