// Drives bindery with the official Dapr JS SDK client (@dapr/dapr) over HTTP or gRPC and prints
// what the SDK got back as one JSON document on stdout. The Rust test (tests/sdk_js.rs) checks
// it, and what reached the component.
//
// Env: PROTOCOL (http|grpc), DAPR_PORT (the sidecar port for that protocol), BINDING.
const { DaprClient, CommunicationProtocolEnum } = require("@dapr/dapr");

const protocol =
  process.env.PROTOCOL === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;
const binding = process.env.BINDING;

function show(value) {
  if (value instanceof Uint8Array) {
    return { bytes: Buffer.from(value).toString("utf8") };
  }
  if (value && typeof value === "object" && value.data instanceof Uint8Array) {
    return { ...value, data: Buffer.from(value.data).toString("utf8") };
  }
  return value;
}

async function call(client, name, operation, data, metadata) {
  try {
    return { ok: show(await client.binding.send(name, operation, data, metadata || {})) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

async function main() {
  const client = new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: process.env.DAPR_PORT,
    communicationProtocol: protocol,
  });
  await client.start();
  const out = {};
  out.create = await call(client, binding, "create", "hello from js", { fileName: "js.txt" });
  out.create_object = await call(client, binding, "create", { b: 1, a: "<" }, { fileName: "obj.json" });
  out.get = await call(client, binding, "get", undefined, { fileName: "js.txt" });
  out.unknown = await call(client, "nope", "create", "x");
  out.unsupported = await call(client, binding, "explode", "x");
  const metadata = await client.metadata.get();
  out.metadata = {
    id: metadata.id,
    components: metadata.components.map((c) => ({
      name: c.name,
      type: c.type,
      capabilities: c.capabilities,
    })),
  };
  await client.stop();
  // The SDK logs to stdout too: the result is the line that starts with RESULT.
  process.stdout.write("RESULT " + JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
