// A minimal Socket.IO 4.8 chat relay for side-by-side measurements with kefu
// (`kefu-load compare-socketio`). It does what a chat relay must and nothing more:
// clients join rooms, a message is numbered per room, broadcast to the room (sender
// included) and acknowledged. Nothing is stored: an acknowledgement here means "the relay
// saw it", where kefu acknowledges only after the message is committed to SQLite.
//
// Usage: node server.js [port]   (listens on 127.0.0.1 only; default port 3000)
// GET /rss answers {"rss_bytes": …, "connections": …} for the memory comparison.

"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 3000);
const heads = new Map(); // room -> last number given

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/rss") {
    const body = JSON.stringify({
      rss_bytes: process.memoryUsage().rss,
      connections: io.engine.clientsCount,
    });
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return;
    socket.join(room);
    if (typeof ack === "function") ack({ head: heads.get(room) || 0 });
  });
  socket.on("msg", (m, ack) => {
    if (!m || typeof m.room !== "string") return;
    const off = (heads.get(m.room) || 0) + 1;
    heads.set(m.room, off);
    io.to(m.room).emit("e", { room: m.room, off, cid: m.cid, body: m.body });
    if (typeof ack === "function") ack({ off });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`socket.io relay listening on http://127.0.0.1:${port}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
