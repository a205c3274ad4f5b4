// Drives a Salesforce org with jsforce, a client nobody on this project wrote, and prints what it saw as one
// JSON object: { step: result | {error: {...}} }. tests/peer/test_jsforce_peer.py starts the emulator, runs
// this script and checks each step against Salesforce's documented behaviour (not against our own client).
//
// Environment: SF_INSTANCE_URL, SF_SESSION_ID, SF_USERNAME, SF_PASSWORD (password + security token),
// SF_API_VERSION. Requires jsforce from tests/peer/node_modules (scripts/test.sh installs it).
'use strict';

const jsforce = require('jsforce');

const version = process.env.SF_API_VERSION || '62.0';
const instanceUrl = process.env.SF_INSTANCE_URL;
const out = {};
const tag = `Peer${Date.now().toString(36)}`;

function describeError(err) {
  return {
    name: err.name,
    errorCode: err.errorCode,
    message: err.message,
    fields: err.fields,
    data: err.data,
  };
}

let current = null;
let printed = false;

function print() {
  if (!printed) {
    printed = true;
    process.stdout.write(JSON.stringify(out));
  }
}

// A request whose answer never comes and holds no socket lets node's event loop drain: the process would end
// silently in the middle of a step. Say which step instead.
process.on('beforeExit', () => {
  if (!printed) {
    out.fatal = { name: 'Stalled', message: `node's event loop drained during step ${current}: no answer came` };
    print();
  }
});

async function step(name, fn) {
  current = name;
  try {
    out[name] = await fn();
  } catch (err) {
    out[name] = { error: describeError(err) };
  }
  return out[name];
}

function collect(recordStream) {
  return new Promise((resolve, reject) => {
    const records = [];
    recordStream.on('record', (r) => records.push(r));
    recordStream.on('error', reject);
    recordStream.on('end', () => resolve(records));
  });
}

async function main() {
  const conn = new jsforce.Connection({
    instanceUrl,
    accessToken: process.env.SF_SESSION_ID,
    version,
  });
  const api = `/services/data/v${version}`;

  // -- login (SOAP, what conn.login does) ------------------------------------------------------------
  await step('soap_login', async () => {
    const other = new jsforce.Connection({ loginUrl: instanceUrl, version });
    const info = await other.login(process.env.SF_USERNAME, process.env.SF_PASSWORD);
    // the new session works where the login said the instance is
    const me = await other.query(`SELECT Id, Username FROM User WHERE Id = '${info.id}'`);
    return { userId: info.id, organizationId: info.organizationId, instanceUrl: other.instanceUrl,
      hasToken: Boolean(other.accessToken), username: me.records.length ? me.records[0].Username : null };
  });
  await step('soap_login_bad_password', async () => {
    const other = new jsforce.Connection({ loginUrl: instanceUrl, version });
    await other.login(process.env.SF_USERNAME, 'not-the-password');
    return 'logged in';
  });

  // -- describe ------------------------------------------------------------------------------------
  await step('describe_global', async () => {
    const g = await conn.describeGlobal();
    return { encoding: g.encoding, maxBatchSize: g.maxBatchSize,
      names: g.sobjects.map((s) => s.name).filter((n) => ['Account', 'Contact', 'Case', 'User'].includes(n)),
      contact: g.sobjects.find((s) => s.name === 'Contact') };
  });
  await step('describe_contact', async () => {
    const d = await conn.sobject('Contact').describe();
    const field = (n) => d.fields.find((f) => f.name === n);
    return { name: d.name, keyPrefix: d.keyPrefix, createable: d.createable, accountId: field('AccountId'),
      lastName: field('LastName'), id: field('Id'), childRelationshipNames: (d.childRelationships || [])
        .map((c) => c.relationshipName).filter(Boolean), urls: d.urls };
  });
  await step('describe_unknown', () => conn.sobject('NoSuchObject__c').describe());

  // -- CRUD ----------------------------------------------------------------------------------------
  const account = await step('create_account', () => conn.sobject('Account').create({ Name: `${tag} Account` }));
  const accountId = account && account.id;
  await step('create_contact', () => conn.sobject('Contact').create({
    LastName: `${tag} Lovelace`, FirstName: 'Ada', Email: `ada.${tag.toLowerCase()}@example.com`,
    AccountId: accountId }));
  const contactId = out.create_contact && out.create_contact.id;
  await step('create_contact_missing_required', () => conn.sobject('Contact').create({ FirstName: 'NoLast' }));
  await step('create_contact_unknown_field', () => conn.sobject('Contact').create({ LastName: 'X', Nope__c: 1 }));
  await step('retrieve_contact', () => conn.sobject('Contact').retrieve(contactId));
  await step('update_contact', () => conn.sobject('Contact').update({ Id: contactId, Title: 'Countess' }));
  await step('retrieve_after_update', async () => (await conn.sobject('Contact').retrieve(contactId)).Title);
  await step('update_null', () => conn.sobject('Contact').update({ Id: contactId, Title: null }));
  await step('retrieve_after_null', async () => (await conn.sobject('Contact').retrieve(contactId)).Title);

  // -- SOQL with relationships -------------------------------------------------------------------------
  await step('query_child_to_parent', () => conn.query(
    `SELECT Id, LastName, Account.Name FROM Contact WHERE Id = '${contactId}'`));
  await step('query_parent_to_child', () => conn.query(
    `SELECT Id, Name, (SELECT Id, LastName FROM Contacts) FROM Account WHERE Id = '${accountId}'`));
  await step('query_count', () => conn.query(`SELECT COUNT() FROM Contact WHERE AccountId = '${accountId}'`));
  await step('query_bad', () => conn.query('SELECT Nope__c FROM Contact'));
  await step('query_paged', async () => {
    const result = await conn.query('SELECT Id FROM Contact ORDER BY Id')
      .execute({ autoFetch: true, maxFetch: 100000, headers: { 'Sforce-Query-Options': 'batchSize=200' } });
    const all = Array.isArray(result) ? result : result.records;
    const first = await conn.request({ method: 'GET', url: `${api}/query?q=${encodeURIComponent('SELECT Id FROM Contact')}`,
      headers: { 'Sforce-Query-Options': 'batchSize=200' } });
    return { fetched: all.length, distinct: new Set(all.map((r) => r.Id)).size, firstPage: first.records.length,
      totalSize: first.totalSize, done: first.done, nextRecordsUrl: first.nextRecordsUrl || null };
  });

  // -- sObject Collections -----------------------------------------------------------------------------
  await step('collections_create', () => conn.sobject('Account').create(
    [{ Name: `${tag} C1` }, { Website: 'no.name.example' }, { Name: `${tag} C3` }], { allOrNone: false }));
  await step('collections_create_all_or_none', () => conn.sobject('Account').create(
    [{ Name: `${tag} AON1` }, { Website: 'no.name.example' }], { allOrNone: true }));
  await step('collections_all_or_none_left', () => conn.query(`SELECT Id FROM Account WHERE Name = '${tag} AON1'`));
  const made = (out.collections_create || []).filter((r) => r.success).map((r) => r.id);
  await step('collections_retrieve', () => conn.sobject('Account').retrieve(made, { fields: ['Id', 'Name'] }));
  await step('collections_update', () => conn.sobject('Account').update(
    made.map((Id) => ({ Id, Website: 'updated.example' })), { allOrNone: false }));
  await step('collections_upsert', () => conn.sobject('Contact').upsert([
    { LastName: `${tag} U1`, Trengo_Id__c: `${tag}-u1` },
    { LastName: `${tag} U2`, Trengo_Id__c: `${tag}-u2` },
  ], 'Trengo_Id__c', { allOrNone: false }));
  await step('collections_upsert_again', () => conn.sobject('Contact').upsert([
    { LastName: `${tag} U1b`, Trengo_Id__c: `${tag}-u1` },
  ], 'Trengo_Id__c', { allOrNone: false }));
  await step('collections_after_update', () => conn.query(
    `SELECT Website FROM Account WHERE Id IN ('${made.join("','")}')`));
  await step('collections_destroy', () => conn.sobject('Account').destroy(made, { allOrNone: false }));
  await step('retrieve_deleted', () => conn.sobject('Account').retrieve(made[0]));

  // -- composite -------------------------------------------------------------------------------------
  await step('composite', () => conn.request({
    method: 'POST', url: `${api}/composite`, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ allOrNone: true, compositeRequest: [
      { method: 'POST', url: `${api}/sobjects/Account`, referenceId: 'acct', body: { Name: `${tag} Composite` } },
      { method: 'POST', url: `${api}/sobjects/Contact`, referenceId: 'ct',
        body: { LastName: `${tag} Composite`, AccountId: '@{acct.id}' } },
      { method: 'GET', url: `${api}/sobjects/Contact/@{ct.id}?fields=AccountId`, referenceId: 'read' },
    ] }),
  }));
  await step('composite_all_or_none_failure', () => conn.request({
    method: 'POST', url: `${api}/composite`, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ allOrNone: true, compositeRequest: [
      { method: 'POST', url: `${api}/sobjects/Account`, referenceId: 'ok', body: { Name: `${tag} Halted` } },
      { method: 'POST', url: `${api}/sobjects/Contact`, referenceId: 'bad', body: { FirstName: 'NoLast' } },
    ] }),
  }));
  await step('composite_halted_left', () => conn.query(`SELECT Id FROM Account WHERE Name = '${tag} Halted'`));

  // -- Bulk API 2.0 ingest: jsforce streams the CSV (chunked transfer encoding) -----------------------------
  conn.bulk2.pollInterval = 100;
  conn.bulk2.pollTimeout = 30000;
  const csv = `Name,Website\n"${tag} Bulk 1","has ""quotes"", and a comma"\n${tag} Bulk 2,plain.example\n,no.name.example\n`;
  await step('bulk2_insert_csv', () => conn.bulk2.loadAndWaitForResults({
    object: 'Account', operation: 'insert', input: csv, lineEnding: 'LF' }));
  await step('bulk2_insert_records', () => conn.bulk2.loadAndWaitForResults({
    object: 'Contact', operation: 'insert',
    input: [{ LastName: `${tag} BulkRec`, Email: `bulk.${tag.toLowerCase()}@example.com`, AccountId: accountId }] }));
  const bulkContact = ((out.bulk2_insert_records || {}).successfulResults || [])[0];
  await step('bulk2_update_null', () => conn.bulk2.loadAndWaitForResults({
    object: 'Contact', operation: 'update',
    input: [{ Id: bulkContact && bulkContact.sf__Id, Email: null, Title: 'Set by bulk' }] }));
  await step('bulk2_after_update', () => conn.sobject('Contact').retrieve(bulkContact && bulkContact.sf__Id));
  await step('bulk2_upsert', () => conn.bulk2.loadAndWaitForResults({
    object: 'Contact', operation: 'upsert', externalIdFieldName: 'Trengo_Id__c',
    input: `LastName,Trengo_Id__c\n${tag} BU1,${tag}-u1\n${tag} BU3,${tag}-u3\n` }));
  await step('bulk2_job_info', async () => {
    const job = conn.bulk2.createJob({ object: 'Account', operation: 'insert' });
    const opened = await job.open();
    await job.uploadData(`Name\n${tag} Info\n`);
    await job.close();
    await job.poll(100, 30000);
    const info = await job.check();
    return { opened, info };
  });
  await step('bulk2_unknown_field', () => conn.bulk2.loadAndWaitForResults({
    object: 'Account', operation: 'insert', input: `Name,Nope__c\n${tag} X,1\n` }));

  // -- Bulk API 2.0 query ---------------------------------------------------------------------------
  await step('bulk2_query', async () => collect(await conn.bulk2.query(
    `SELECT Id, Name, Website FROM Account WHERE Name LIKE '${tag} Bulk%' ORDER BY Name`)));
  await step('bulk2_query_relationship', async () => collect(await conn.bulk2.query(
    `SELECT Id, LastName, Account.Name FROM Contact WHERE Id = '${contactId}'`)));
  await step('bulk2_query_many', async () => (await collect(await conn.bulk2.query('SELECT Id FROM Contact'))).length);
  await step('bulk2_query_job', async () => {
    const created = await conn.request({ method: 'POST', url: `${api}/jobs/query`,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ operation: 'query', query: 'SELECT Id FROM Account' }) });
    let early;  // a job that has not finished cannot be deleted
    try {
      early = await conn.request({ method: 'DELETE', url: `${api}/jobs/query/${created.id}` });
    } catch (err) {
      early = { error: describeError(err) };
    }
    const job = conn.bulk2.job('query', { id: created.id });
    await job.poll(100, 30000);
    const finished = await job.check();
    const deleted = await conn.request({ method: 'DELETE', url: `${api}/jobs/query/${created.id}` });
    let after;
    try {
      after = await conn.request({ method: 'GET', url: `${api}/jobs/query/${created.id}` });
    } catch (err) {
      after = { error: describeError(err) };
    }
    return { created, early: early === undefined ? null : early, finished, deleted: deleted === undefined ? null : deleted, after };
  });
  await step('bulk2_query_bad', async () => collect(await conn.bulk2.query('SELECT Nope__c FROM Account')));

  await step('limits', () => conn.limits());
}

main()
  .catch((err) => { out.fatal = describeError(err); })
  .finally(print);
