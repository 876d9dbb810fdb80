// A partner app in another language: knows only the .proto files and the address.
// Usage: node node_client.js <protos dir> <host:port> <message>
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

const [protos, target, text] = process.argv.slice(2);
const definition = loader.loadSync("solace/v1/support.proto", {
  includeDirs: [protos],
  enums: String,
  defaults: true,
});
const { Support } = grpc.loadPackageDefinition(definition).solace.v1;
const client = new Support(target, grpc.credentials.createInsecure());
const request = { conversation: { turns: [{ role: "ROLE_SEEKER", text }] } };

client.Respond(request, { deadline: Date.now() + 30000 }, (err, response) => {
  if (err) {
    console.log(JSON.stringify({ code: grpc.status[err.code], details: err.details }));
    process.exit(0);
  }
  console.log(JSON.stringify({
    reply: response.reply,
    risk: response.risk.level,
    strategy: response.strategy ? response.strategy.strategy : null,
  }));
});
