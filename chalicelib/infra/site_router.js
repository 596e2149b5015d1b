// deployd's site router: a CloudFront Function (cloudfront-js-2.0) on the sites distribution's viewer requests.
//
// The first label of the Host header names a site (`site--acme`, `d12--site--acme`, `site--acme--git--main`);
// the KeyValueStore, a mirror of the routes table, holds the artifact prefix it serves (`deployments/12/`).
// The request's URI becomes that prefix in the sites bucket, with the embedded site server's index rules
// (chalicelib/local/sites.py): `/` and `.../` serve index.html, an extensionless last segment serves
// <path>/index.html. A host the store does not know is a 404 here, before the origin is asked; a store that
// cannot be read is a 503 (retry later), never a 404 that would tell visitors and crawlers the site is gone.
// Switching production or rolling back is one write to the store: nothing here or in the bucket changes.
import cf from 'cloudfront';

const kvs = cf.kvs();

function reply(statusCode, statusDescription, text) {
  return {
    statusCode: statusCode,
    statusDescription: statusDescription,
    headers: {
      'content-type': { value: 'text/plain; charset=utf-8' },
      'cache-control': { value: 'no-cache' },
    },
    body: { encoding: 'text', data: text + '\n' },
  };
}

function objectPath(path) {
  if (path === '' || path.endsWith('/')) {
    return path + 'index.html';
  }
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last.indexOf('.') === -1 ? path + '/index.html' : path;
}

// Host labels as deployd makes them: lowercase letters, digits and hyphens. Anything else names no site
// and is never looked up.
const LABEL = /^[a-z0-9-]{1,63}$/;

// The label's prefix; '' for a label the store does not hold; null when the store could not be read.
async function lookup(label) {
  try {
    return await kvs.get(label);
  } catch (err) {
    // get() throws for a missing key and for a failed read alike; exists() tells the two apart.
    try {
      return (await kvs.exists(label)) ? null : '';
    } catch (existsErr) {
      return null;
    }
  }
}

async function handler(event) {
  const request = event.request;
  const host = request.headers.host ? request.headers.host.value : '';
  const label = host.split('.')[0].toLowerCase();
  const prefix = LABEL.test(label) ? await lookup(label) : '';
  if (prefix === null) {
    const unavailable = reply(503, 'Service Unavailable', 'the site at ' + label + ' cannot be looked up now; retry');
    unavailable.headers['retry-after'] = { value: '5' };
    return unavailable;
  }
  if (!prefix) {
    // Nothing from the request is echoed: the same answer for every host that names no site.
    return reply(404, 'Not Found', 'no site is served at this address');
  }
  const path = request.uri.replace(/^\/+/, '');
  if (path.split('/').indexOf('..') !== -1) {
    return reply(400, 'Bad Request', 'bad path');
  }
  request.uri = '/' + prefix + objectPath(path);
  return request;
}
