/**
 * `prekey-bundle`: claims and returns a profile's prekey bundle
 * (docs/formats.md). Each one-time prekey in a bundle is handed out once;
 * `claim_prekey_bundle` deletes it in the same statement that picks it.
 */
import { runAsCaller } from "../_shared/db.ts";
import { createHandler } from "../_shared/http.ts";
import { prekeyBundleRequestSchema } from "../_shared/schemas.ts";

export default createHandler({
  name: "prekey-bundle",
  schema: prekeyBundleRequestSchema,

  async handle(body, { caller, log }) {
    const bundle = await runAsCaller(caller, async (sql) => {
      const [row] = await sql`select public.claim_prekey_bundle(${body.profile}) as bundle`;
      return row?.["bundle"];
    });

    log.info({ target: body.profile }, "prekey bundle claimed");
    return bundle;
  },
});
