"""Bench app for --preload: imports two heavy third-party libraries (Debian's python3-numpy and
python3-sqlalchemy), builds a little with them, and answers GET / with its pid on PORT."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy
import sqlalchemy.orm

TABLE = numpy.arange(16).reshape(4, 4)
Base = sqlalchemy.orm.declarative_base()


class Item(Base):
    __tablename__ = "items"
    id = sqlalchemy.Column(sqlalchemy.Integer, primary_key=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
