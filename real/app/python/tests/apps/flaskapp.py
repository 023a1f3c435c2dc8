"""A Flask app over what users' apps do: templates-free pages, forms, JSON, uploads, streaming,
redirects, errors."""
from flask import Flask, Response, jsonify, redirect, request

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"


@app.route("/form", methods=["POST"])
def form():
    return jsonify(dict(request.form))


@app.route("/json", methods=["POST"])
def json_echo():
    return jsonify(echo=request.get_json())


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(name=f.filename, size=len(data), sum=sum(data))


@app.route("/stream/<int:n>")
def stream(n):
    return Response((f"line {i}\n" for i in range(n)), mimetype="text/plain")


@app.route("/go")
def go():
    return redirect("/")


@app.route("/boom")
def boom():
    raise RuntimeError("flask view failed")
