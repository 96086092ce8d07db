// srv-listener.mjs: a NATS service (nats.js service framework) that
// natsvisord health-checks with ping_subject = $SRV.PING.<service>.
import { connect, StringCodec } from "nats";

const env = process.env;
const sc = StringCodec();
const [subject] = (env.NATSVISOR_SUBJECTS ?? "svc.echo").split(" ");
const nc = await connect({
  servers: (env.NATS_URL ?? "nats://127.0.0.1:4222").split(","),
  user: env.NATS_USER, pass: env.NATS_PASSWORD, token: env.NATS_TOKEN,
  waitOnFirstConnect: true,
  maxReconnectAttempts: -1,
  reconnectTimeWait: 100,
  reconnectJitter: 150,
});

// add() subscribes $SRV.PING.<name> (and INFO, STATS) at once.  The
// endpoint must be added without an await in between: its subscription
// then leaves in the same write, before any answer to a ping, so a pong
// proves that the server has the endpoint's subscription too.
const srv = await nc.services.add({
  name: env.SERVICE_NAME ?? "echo",
  version: "1.0.0",
});
srv.addEndpoint("echo", {
  subject,
  handler: (err, msg) => {
    if (err) return;
    console.log(`${msg.subject} ${sc.decode(msg.data)}`);
    msg.respond(msg.data);
  },
});

process.on("SIGTERM", async () => {
  await srv.stop();
  await nc.drain();
  process.exit(0);
});
