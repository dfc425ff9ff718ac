import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SkeinBroker
import SkeinClient
import SkeinCluster

/// The endpoints of the HTTP listener. JSON answers use Kafka's names in snake case; a
/// missing topic is a 404 with `{"error": …}`.
struct AdminRoutes: Sendable {
  /// The header an EventSource sends when it reconnects.
  static let lastEventId = HTTPField.Name("Last-Event-ID")!  // a valid token: never nil
  let broker: Broker
  let metrics: NodeMetrics
  /// A client of this node's own Kafka listener, for what the cluster answers as a whole
  /// (groups, their offsets, log end offsets); nil on a node without a broker role.
  let admin: Admin?

  func register(on router: Router<BasicRequestContext>) {
    router.get("/metrics") { _, _ in
      let lag = await groupLagSamples()
      return Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: metrics.scrape(broker, extra: lag))))
    }
    router.get("/v1/topics/:topic/layout") { _, context in
      let name = try context.parameters.require("topic")
      guard let view = LayoutView(broker.metadataImage, topic: name) else {
        return try json(ErrorView(error: "unknown topic \(name)"), status: .notFound)
      }
      return try json(view)
    }
    router.get("/") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: WebPage.html)))
    }
    router.get("/v1/events") { request, _ in
      let query = request.uri.queryParameters
      var after: UInt64?
      if let text = query["after"].map(String.init) ?? request.headers[AdminRoutes.lastEventId] {
        guard let parsed = UInt64(text) else {
          return try json(
            ErrorView(error: "after must be an event id, got \(text)"), status: .badRequest)
        }
        after = parsed
      }
      if query["format"].map(String.init) == "json" {
        return try json(EventListView(entries: broker.events.recent(after: after)))
      }
      let stream = broker.events.stream(after: after)
      return Response(
        status: .ok,
        headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
        body: ResponseBody { writer in
          try await writer.write(ByteBuffer(string: ": skein cluster events\n\n"))
          for await entry in stream {
            try await writer.write(ByteBuffer(string: EventListView.serverSentEvent(entry)))
          }
          try await writer.finish(nil)
        })
    }
    router.get("/v1/groups") { _, _ in
      guard let admin else {
        return try json(ErrorView(error: "no broker role"), status: .notFound)
      }
      return try json(try await GroupListView(admin))
    }
    router.get("/v1/groups/:group") { _, context in
      let id = try context.parameters.require("group")
      guard let admin, let view = try await GroupView(admin, groupId: id) else {
        return try json(ErrorView(error: "unknown group \(id)"), status: .notFound)
      }
      return try json(view)
    }
    router.get("/v1/placement") { request, _ in
      var query: [String: String] = [:]
      for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
      switch Result(catching: { () throws(PlacementView.Refusal) in
        try PlacementView.answer(query, image: broker.metadataImage)
      }) {
      case .success(let view): return try json(view)
      case .failure(.badRequest(let message)):
        return try json(ErrorView(error: message), status: .badRequest)
      case .failure(.unknownTopic(let name)):
        return try json(ErrorView(error: "unknown topic \(name)"), status: .notFound)
      }
    }
    router.get("/v1/cluster") { _, _ in try json(ClusterView(broker)) }
    router.get("/v1/topics") { _, _ in
      try json(TopicListView(topics: broker.metadataImage.topics.keys.sorted()))
    }
    router.get("/v1/topics/:topic") { request, context in
      let name = try context.parameters.require("topic")
      let scope = request.uri.queryParameters["scope"].map(String.init) ?? "cluster"
      guard scope == "cluster" || scope == "local" else {
        return try json(
          ErrorView(error: "scope must be cluster or local, got \(scope)"), status: .badRequest)
      }
      let image = broker.metadataImage
      guard let view = TopicView(broker, topic: name) else {
        return try json(ErrorView(error: "unknown topic \(name)"), status: .notFound)
      }
      if scope == "local" { return try json(view) }
      return try json(
        await LeaderReplicaStates().fill(view, image: image, selfId: broker.config.nodeId))
    }
  }
}

extension AdminRoutes {
  /// kafka-exporter's consumer-group gauges for the groups this node coordinates, so that
  /// each group is reported once across the cluster. A group that does not answer in time is
  /// left out of this scrape.
  func groupLagSamples() async -> [ScrapeGauges.Sample] {
    guard let admin else { return [] }
    var samples: [ScrapeGauges.Sample] = []
    for id in broker.coordinatedGroupIds {
      if let view = try? await GroupView(admin, groupId: id) { samples += view.samples }
    }
    return samples
  }
}

/// The API's JSON: snake-case keys, sorted.
func adminEncoder() -> JSONEncoder {
  let encoder = JSONEncoder()
  encoder.keyEncodingStrategy = .convertToSnakeCase
  encoder.outputFormatting = [.sortedKeys]
  return encoder
}

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
  let data = try adminEncoder().encode(value)
  return Response(
    status: status, headers: [.contentType: "application/json"],
    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

struct ErrorView: Encodable {
  var error: String
}
