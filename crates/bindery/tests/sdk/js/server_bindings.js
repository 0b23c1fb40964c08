// An app built with the official Dapr JS SDK server (@dapr/dapr DaprServer) over HTTP or gRPC,
// receiving input-binding events. Each event is appended to $OUT as one JSON line.
//
// Env: PROTOCOL (http|grpc), APP_PORT, DAPR_PORT (the sidecar port for that protocol), BINDING,
// OUT.
const fs = require("fs");
const { DaprServer, CommunicationProtocolEnum } = require("@dapr/dapr");

const protocol =
  process.env.PROTOCOL === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;

async function main() {
  const server = new DaprServer({
    serverHost: "127.0.0.1",
    serverPort: process.env.APP_PORT,
    communicationProtocol: protocol,
    clientOptions: {
      daprHost: "127.0.0.1",
      daprPort: process.env.DAPR_PORT,
      communicationProtocol: protocol,
    },
  });
  await server.binding.receive(process.env.BINDING, async (data) => {
    fs.appendFileSync(process.env.OUT, JSON.stringify({ binding: process.env.BINDING, data }) + "\n");
  });
  await server.start();
  console.log("server started");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
