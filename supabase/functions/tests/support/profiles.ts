/** Profiles with published keys, set up through the same paths clients use. */
import assert from "node:assert/strict";

import publishKeys from "../../publish-keys/handler.ts";
import { post } from "./http.ts";
import {
  createIdentity,
  createKemPrekey,
  createKemPrekeys,
  createOneTimePrekeys,
  createSignedPrekey,
  type TestIdentity,
} from "./keys.ts";
import { asUser, createUser, type TestUser, uniqueProfileName } from "./stack.ts";

export interface TestProfile {
  user: TestUser;
  profile: string;
  identity: TestIdentity;
}

/** Creates a user and claims a profile with a fresh identity, as a client does over REST. */
export async function createProfile(prefix: string): Promise<TestProfile> {
  const user = await createUser();
  const profile = uniqueProfileName(prefix);
  const identity = createIdentity(profile);

  await asUser(user, (sql) => sql`
    insert into public.chat_participants (profile, payload)
    values (${profile}, ${sql.json(identity.payload)})
  `);

  return { user, profile, identity };
}

export interface PublishedKeys {
  oneTimeKeyIds: number[];
  kemKeyIds: number[];
}

/** Publishes a signed prekey, one-time EC and KEM prekeys and a last-resort KEM prekey through publish-keys. */
export async function publishFullBundle(
  owner: TestProfile,
  oneTimeCount: number,
  kemCount: number,
): Promise<PublishedKeys> {
  const oneTimePrekeys = createOneTimePrekeys(1, oneTimeCount, owner.profile);
  const kemPrekeys = createKemPrekeys(owner.identity, 1, kemCount, owner.profile);
  const { status, body } = await post(publishKeys, "publish-keys", owner.user.token, {
    action: "publish",
    signedPrekey: createSignedPrekey(owner.identity, 1, owner.profile),
    oneTimePrekeys,
    kemPrekeys,
    lastResortKemPrekey: createKemPrekey(owner.identity, 1_000_000, owner.profile),
  });

  assert.equal(status, 200, `publishing keys for ${owner.profile}: ${JSON.stringify(body)}`);
  return {
    oneTimeKeyIds: oneTimePrekeys.map((key) => key.keyId),
    kemKeyIds: kemPrekeys.map((key) => key.keyId),
  };
}

/** Reads the owner's key counts with `prekey_counts()`. */
export async function prekeyCounts(owner: TestProfile): Promise<Record<string, unknown>> {
  const [row] = await asUser(owner.user, (sql) => sql`select public.prekey_counts() as counts`);
  return row!["counts"] as Record<string, unknown>;
}
