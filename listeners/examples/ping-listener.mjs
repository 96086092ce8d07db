// ping-listener.mjs: a natsvisor listener written with the NATS client
// for Node.js (npm install nats@2), following natsvisor-ping(7).
import { connect, StringCodec } from "nats";

const env = process.env;
const sc = StringCodec();
const subjects = (env.NATSVISOR_SUBJECTS ?? "").split(" ").filter(Boolean);
const nc = await connect({
  servers: (env.NATS_URL ?? "nats://127.0.0.1:4222").split(","),
  user: env.NATS_USER, pass: env.NATS_PASSWORD, token: env.NATS_TOKEN,
  name: env.NATSVISOR_NAME,
  waitOnFirstConnect: true,      // a listener may start before its server
  maxReconnectAttempts: -1,      // and must never give up reconnecting
  reconnectTimeWait: 100,
  reconnectJitter: 150,
});

// 1. The data subscriptions.  A refusal by the server's permissions comes
//    to the callback as an error, before the flush below returns.
let refused = null;
for (const subject of subjects) {
  nc.subscribe(subject, {
    queue: env.NATSVISOR_QUEUE_GROUP || undefined,
    callback: (err, msg) => {
      if (err) {
        refused = err.message;
        return;
      }
      console.log(`${msg.subject} ${sc.decode(msg.data)}`);
      // natsvisorctl publish --confirm: answer once the message is handled.
      const to = msg.headers?.get("Natsvisor-Confirm");
      if (to) {
        const subject = to.includes(".") ? to : msg.reply;
        if (subject) nc.publish(subject, sc.encode('{"committed":true}'));
      }
    },
  });
}
// 2. A flush: the server has processed every subscription.
await nc.flush();

// 3. After a reconnect, "not ready" until flushed again.
let connected = true, flushed = true, generation = 0;
(async () => {
  for await (const s of nc.status()) {
    if (s.type === "disconnect") {
      connected = false;
      generation++;
    } else if (s.type === "reconnect") {
      const g = ++generation;
      connected = true;
      flushed = false;
      nc.flush().then(() => { if (g === generation) flushed = true; },
                      () => {});
    }
  }
})();

// 4. The ping subscription, last, on the same connection.
if (env.NATSVISOR_PING_SUBJECT) {
  nc.subscribe(env.NATSVISOR_PING_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const reason = refused ? `subscription refused: ${refused}`
        : !connected ? "disconnected" : !flushed ? "reconnecting" : null;
      msg.respond(sc.encode(JSON.stringify(reason
        ? { ready: false, reason, subjects, pid: process.pid }
        : { ready: true, subjects, pid: process.pid })));
    },
  });
  // 5. Hello: natsvisord pings at once instead of at its next step.
  if (env.NATSVISOR_HELLO_SUBJECT) nc.publish(env.NATSVISOR_HELLO_SUBJECT);
}

// natsvisord stops a listener with SIGTERM: finish what was received.
process.on("SIGTERM", async () => {
  await nc.drain();
  process.exit(0);
});
