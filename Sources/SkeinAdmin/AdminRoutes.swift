import Foundation
import Hummingbird
import NIOCore
import SkeinBroker
import SkeinCluster

/// The endpoints of the HTTP listener. JSON answers use Kafka's names in snake case; a
/// missing topic is a 404 with `{"error": …}`.
struct AdminRoutes: Sendable {
  let broker: Broker
  let metrics: NodeMetrics

  func register(on router: Router<BasicRequestContext>) {
    router.get("/metrics") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: metrics.scrape(broker))))
    }
    router.get("/v1/cluster") { _, _ in try json(ClusterView(broker)) }
    router.get("/v1/topics") { _, _ in
      try json(TopicListView(topics: broker.metadataImage.topics.keys.sorted()))
    }
    router.get("/v1/topics/:topic") { _, context in
      let name = try context.parameters.require("topic")
      guard let view = TopicView(broker, topic: name) else {
        return try json(ErrorView(error: "unknown topic \(name)"), status: .notFound)
      }
      return try json(view)
    }
  }
}

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
  let encoder = JSONEncoder()
  encoder.keyEncodingStrategy = .convertToSnakeCase
  encoder.outputFormatting = [.sortedKeys]
  let data = try encoder.encode(value)
  return Response(
    status: status, headers: [.contentType: "application/json"],
    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

struct ErrorView: Encodable {
  var error: String
}
