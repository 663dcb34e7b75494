// The integration flow with a TypeScript client: openapi-fetch over the types openapi-typescript
// generates from /api/schema/ (tests/api_clients/test_typescript_client.py writes ./schema.d.ts and
// ./world.ts beside a copy of this file, type-checks it with `tsc --strict`, then runs it with node).
// Every step is typed by the schema alone: no `any`, no cast; the errors are parsed as its `Problem`.
// A failed step throws: node exits non-zero and prints the step. The last line printed is "flow: ok".

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";
import { world } from "./world.js";

type Problem = components["schemas"]["Problem"];
type Api = Client<paths>;

const PROBLEM_TYPE_PREFIX = "urn:capital-allocation:problem:";
const PROBLEM_CONTENT_TYPE = "application/problem+json";
const REBALANCE = "/api/v1/portfolios/{slug}/allocation/rebalance";

// The statuses this flow meets are documented on the rebalance, as problem details: without them
// the generated error type is `never` and a client cannot read what went wrong.
type RebalanceResponses = paths[typeof REBALANCE]["post"]["responses"];
const forbiddenIsAProblem: RebalanceResponses[403]["content"][typeof PROBLEM_CONTENT_TYPE] extends Problem
  ? true
  : "the rebalance's 403 is not a Problem" = true;
const reusedKeyIsAProblem: RebalanceResponses[422]["content"][typeof PROBLEM_CONTENT_TYPE] extends Problem
  ? true
  : "the rebalance's 422 is not a Problem" = true;

function check(condition: boolean, step: string, seen?: unknown): asserts condition {
  if (!condition) {
    throw new Error(`${step}${seen === undefined ? "" : `: ${JSON.stringify(seen)}`}`);
  }
}

/** The error body of an answer, as the generated Problem: its status, type and media type checked. */
function problemOf(error: Problem | undefined, response: Response, status: number, step: string): Problem {
  check(response.status === status, `${step}: expected ${status}, got ${response.status}`, error);
  check(response.headers.get("content-type") === PROBLEM_CONTENT_TYPE, `${step}: content type`, response.headers.get("content-type"));
  check(error !== undefined, `${step}: no error body`);
  check(error.status === status && error.type.startsWith(PROBLEM_TYPE_PREFIX), `${step}: problem`, error);
  check(error.title.length > 0 && error.detail.length > 0, `${step}: title and detail`, error);
  for (const item of error.errors ?? []) {
    check(typeof item.field === "string" && item.message.length > 0, `${step}: errors`, error);
  }
  console.log(`${step}: ${error.status} ${error.type}`);
  return error;
}

/** A client holding a new token of `username` (the scheme's prefix is `Token`). */
async function signedIn(username: string): Promise<Api> {
  const anonymous = createClient<paths>({ baseUrl: world.baseUrl });
  const { data, error, response } = await anonymous.POST("/api/v1/auth/token/", {
    body: { username, password: world.password },
  });
  check(data !== undefined, `token of ${username}: ${response.status}`, error);
  check(data.username === username, "token: username", data);
  return createClient<paths>({ baseUrl: world.baseUrl, headers: { Authorization: `Token ${data.token}` } });
}

const slug = world.portfolio;
const path = { slug };
const integration = await signedIn(world.integration);
console.log("token: ok");

const portfolios = await integration.GET("/api/v1/portfolios/");
check(portfolios.data !== undefined, "portfolios", portfolios.error);
check(portfolios.data.results.map((p) => p.slug).join() === slug, "portfolios: the granted one", portfolios.data);

const current = await integration.GET("/api/v1/portfolios/{slug}/allocation/current", { params: { path } });
check(current.data !== undefined, "current allocation", current.error);
const codes = Object.keys(current.data.allocation).sort();
const weights: number[] = Object.values(current.data.allocation);
check(codes.length === 12 && weights.every((w) => w >= 0), "current allocation: 12 strategies", current.data);

const methods = await integration.GET("/api/v1/portfolios/{slug}/allocation/methods", { params: { path } });
check(methods.data !== undefined, "methods", methods.error);
for (const method of ["risk_parity", "momentum", "equal_weight"]) {
  check(methods.data.methods.includes(method), `methods: ${method}`, methods.data);
}

const strategies = await integration.GET("/api/v1/portfolios/{slug}/strategies/", { params: { path } });
check(strategies.data !== undefined && strategies.data.results.length > 0, "strategies", strategies.error);
const sector = strategies.data.results[0].sector;
console.log("portfolios, current allocation, methods, strategies: ok");

const pushed = await integration.POST("/api/v1/portfolios/{slug}/returns/", {
  params: { path },
  body: {
    returns: codes.slice(0, 2).map((strategy) => ({ date: world.returnsDate, strategy, return: 0.0012 })),
    source: "typescript-client-flow",
  },
});
check(pushed.response.status === 201 && pushed.data?.rows === 2, "returns", pushed.error ?? pushed.data);

const signal = await integration.POST("/api/v1/portfolios/{slug}/signals/", {
  params: { path },
  body: { sector, action: "BUY", confidence: 0.4 },
});
check(signal.response.status === 201 && signal.data?.sector === sector, "signal", signal.error ?? signal.data);
console.log("returns and signal: ok");

const dryBody = { dry_run: true, allocation_method: "risk_parity", total_equity: "1000000" } as const;
const dry = await integration.POST(REBALANCE, {
  params: { path, header: { "Idempotency-Key": "typescript-flow-dry-run" } },
  body: dryBody,
});
check(dry.data !== undefined && dry.response.status === 200, "dry run", dry.error);
check(dry.data.dry_run && dry.data.allocation_id === null, "dry run: nothing stored", dry.data);
check(Object.keys(dry.data.target_allocation).sort().join() === codes.join(), "dry run: targets", dry.data);
const cash: number | undefined = dry.data.explanation.cash; // the explanation is a typed component
check(cash !== undefined && cash >= 0 && cash < 1, "dry run: the explanation's cash", dry.data.explanation);
console.log("dry run: ok");

// an invalid request: 400, naming the field by its path in the request
const invalid = await integration.POST(REBALANCE, {
  params: { path },
  body: { dry_run: true, sector_signals: [{ sector, action: "BUY", confidence: 1.5 }] },
});
const invalidProblem: Problem | undefined = invalid.error;
const fields = (problemOf(invalidProblem, invalid.response, 400, "an invalid rebalance").errors ?? []).map((e) => e.field);
check(fields.join() === "sector_signals[0].confidence", "an invalid rebalance: the field", invalidProblem);

// the same Idempotency-Key with another body: 422
const reused = await integration.POST(REBALANCE, {
  params: { path, header: { "Idempotency-Key": "typescript-flow-dry-run" } },
  body: { ...dryBody, allocation_method: "equal_weight" },
});
const reusedProblem: Problem | undefined = reused.error;
problemOf(reusedProblem, reused.response, 422, "a reused Idempotency-Key");

// a viewer may not rebalance: 403
const viewer = await signedIn(world.viewer);
const forbidden = await viewer.POST(REBALANCE, { params: { path }, body: { dry_run: true } });
const forbiddenProblem: Problem | undefined = forbidden.error;
problemOf(forbiddenProblem, forbidden.response, 403, "a viewer's rebalance");

// a real rebalance with sector signals waits for a second risk officer
const requester = await signedIn(world.requester);
const rebalance = () =>
  requester.POST(REBALANCE, {
    params: { path, header: { "Idempotency-Key": "typescript-flow-rebalance" } },
    body: { allocation_method: "momentum", sector_signals: [{ sector, action: "BUY", confidence: 0.8 }] },
  });
const real = await rebalance();
check(real.data !== undefined && real.response.status === 201, "rebalance", real.error);
check(!real.data.dry_run && real.data.status === "pending_approval", "rebalance: pending", real.data);
const runId = real.data.allocation_id;
check(runId !== null, "rebalance: a run id", real.data);
const replayed = await rebalance(); // the same key and body: the first answer, replayed
check(replayed.response.status === 201 && replayed.response.headers.get("Idempotent-Replayed") === "true", "replay");
check(replayed.data?.allocation_id === runId, "replay: the same run", replayed.data);
console.log("rebalance with sector signals: pending approval");

const runs = await integration.GET("/api/v1/portfolios/{slug}/runs/", { params: { path } });
check(runs.data !== undefined, "runs", runs.error);
const listed = runs.data.results.find((run) => run.allocation_id === runId);
check(listed?.status === "pending_approval" && listed.requested_by === world.requester, "runs: the pending run", runs.data);

const approver = await signedIn(world.approver);
const approved = await approver.POST("/api/v1/portfolios/{slug}/runs/{allocation_id}/approve/", {
  params: { path: { slug, allocation_id: runId } },
  body: { reason: "checked by the typescript client flow" },
});
check(approved.data !== undefined, "approve", approved.error);
check(approved.data.status === "applied" && approved.data.decided_by === world.approver, "approved", approved.data);
console.log("approval by a second risk officer: applied");

check(forbiddenIsAProblem && reusedKeyIsAProblem, "the error types");
console.log("flow: ok");
