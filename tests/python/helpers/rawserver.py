"""A tiny HTTP/1.1 server on 127.0.0.1 for answers the mock does not give (HTML pages, random
bytes, compressed bodies, requests that are read and never answered). It counts accepted
connections and complete requests; each request is handed to a function that writes the
answer (or closes)."""
import socket
import threading


class RawServer:
    def __init__(self, answer):
        self.answer = answer  # answer(conn, head: bytes, body: bytes) -> None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []  # (head, body) of every complete request, in arrival order
        self.request_seen = threading.Condition(self.lock)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                with self.lock:
                    self.requests.append((head, body))
                    self.request_seen.notify_all()
                if self.answer(conn, head, body) is False:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def wait_requests(self, n, timeout=10.0):
        """Waits until n complete requests arrived; returns how many there are."""
        with self.lock:
            self.request_seen.wait_for(lambda: len(self.requests) >= n, timeout)
            return len(self.requests)

    def close(self):
        self.sock.close()


def respond(conn, status, headers, body, keep_open=False):
    """Writes one HTTP/1.1 answer with a Content-Length; closes unless keep_open."""
    lines = ["HTTP/1.1 %s" % status] + ["%s: %s" % kv for kv in headers]
    lines.append("Content-Length: %d" % len(body))
    if not keep_open:
        lines.append("Connection: close")
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return keep_open
