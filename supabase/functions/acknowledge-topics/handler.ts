/**
 * `acknowledge-topics`: deletes, in one transaction, those of the given
 * topics that are addressed to the caller's profile, and returns their ids.
 * Unknown, already acknowledged and other profiles' ids delete nothing, so a
 * repeated call is harmless.
 */
import { runAsCaller } from "../_shared/db.ts";
import { createHandler } from "../_shared/http.ts";
import { acknowledgeTopicsRequestSchema } from "../_shared/schemas.ts";

export default createHandler({
  name: "acknowledge-topics",
  schema: acknowledgeTopicsRequestSchema,

  async handle(body, { caller, log }) {
    const topicIds = body.topicIds.map(String);

    const deleted = await runAsCaller(caller, async (sql) => {
      const [row] = await sql`select public.acknowledge_topics(${topicIds}::bigint[]) as ids`;
      return (row?.["ids"] ?? []) as Array<string | number>;
    });

    const acknowledged = deleted.map(Number).sort((a, b) => a - b);
    log.info({ requested: topicIds.length, acknowledged: acknowledged.length }, "topics acknowledged");
    return { acknowledged };
  },
});
