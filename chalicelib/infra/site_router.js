// deployd's site router: a CloudFront Function (cloudfront-js-2.0) on the sites distribution's viewer requests.
//
// The first label of the Host header names a site (`site--acme`, `d12--site--acme`, `site--acme--git--main`);
// the KeyValueStore, a mirror of the routes table, holds the artifact prefix it serves (`deployments/12/`).
// The request's URI becomes that prefix in the sites bucket, with the embedded site server's index rules
// (chalicelib/local/sites.py): `/` and `.../` serve index.html, an extensionless last segment serves
// <path>/index.html. A host the store does not know is a 404 here, before the origin is asked.
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

async function handler(event) {
  const request = event.request;
  const host = request.headers.host ? request.headers.host.value : '';
  const label = host.split('.')[0].toLowerCase();
  let prefix = '';
  if (LABEL.test(label)) {
    try {
      prefix = await kvs.get(label);
    } catch (err) {
      // get() throws for a key the store does not hold: no site is served at this label.
      prefix = '';
    }
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
