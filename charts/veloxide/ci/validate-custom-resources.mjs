// Validates the chart's objects of other projects' CRDs offline, which kubernetes-validate has no
// schemas for: prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule, cert-manager's
// Certificate and Issuer (the schemas compiled into the @kubernetes-models packages: types,
// required fields, enums and formats; not unknown fields), and parses every alert and recording
// rule expression as PromQL. Used by e2e/tests/chart.rs.
//
//   node validate-custom-resources.mjs NODE_DIR < objects.json    (a JSON array of objects)
//
// NODE_DIR is where e2e/tools/install-chart-tools.sh installed the packages (.work/chart-node).
// Prints one line per object and exits 1 when any is invalid; unknown kinds are errors too.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const nodeDir = process.argv[2];
if (!nodeDir) {
  console.error("usage: node validate-custom-resources.mjs NODE_DIR < objects.json");
  process.exit(2);
}
const load = async (pkg, file, name) =>
  (await import(pathToFileURL(join(nodeDir, "node_modules", pkg, `${file}.js`)).href))[name];

const prom = "@kubernetes-models/prometheus-operator";
const cm = "@kubernetes-models/cert-manager";
const models = {
  "monitoring.coreos.com/v1/ServiceMonitor": [prom, "monitoring.coreos.com/v1/ServiceMonitor"],
  "monitoring.coreos.com/v1/PodMonitor": [prom, "monitoring.coreos.com/v1/PodMonitor"],
  "monitoring.coreos.com/v1/PrometheusRule": [prom, "monitoring.coreos.com/v1/PrometheusRule"],
  "cert-manager.io/v1/Certificate": [cm, "cert-manager.io/v1/Certificate"],
  "cert-manager.io/v1/Issuer": [cm, "cert-manager.io/v1/Issuer"],
};
const { parser } = createRequire(join(nodeDir, "package.json"))("@prometheus-io/lezer-promql");

function promqlErrors(expr) {
  const errors = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`);
    },
  });
  return errors;
}

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const obj of objects) {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const what = `${obj.kind} ${obj.metadata?.name}`;
  const model = models[id];
  if (!model) {
    console.log(`INVALID ${what}: no schema for ${id}`);
    failed++;
    continue;
  }
  const cls = await load(model[0], model[1], obj.kind);
  const problems = [];
  try {
    new cls(obj).validate();
  } catch (e) {
    problems.push(e.message);
  }
  if (obj.kind === "PrometheusRule") {
    for (const group of obj.spec?.groups ?? []) {
      for (const rule of group.rules ?? []) {
        for (const err of promqlErrors(String(rule.expr))) {
          problems.push(`rule ${rule.alert ?? rule.record}: PromQL syntax error ${err}`);
        }
      }
    }
  }
  if (problems.length) {
    failed++;
    console.log(`INVALID ${what}: ${problems.join("; ")}`);
  } else {
    console.log(`valid ${what}`);
  }
}
process.exit(failed ? 1 : 0);
